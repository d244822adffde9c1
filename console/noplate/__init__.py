"""Cars without a plate (无牌车): a driver's phone stands in for the plate, from the
entry's QR code to the exit's (README, "Cars without a plate")."""
