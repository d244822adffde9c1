"""Payment orders: what a driver at an exit lane is asked to pay, the signed link to the
pay page, the providers that take the money, and the gate that opens once it is paid."""
