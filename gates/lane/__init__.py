"""The lane agent, which runs at the car park: it dials the centre, keeps a journal of
the commands it carried out, and drives the lane's hardware through a driver (the
simulated lane is one)."""
