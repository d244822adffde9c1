"""The lane's media, at the car park: cameras kept open, the microphone and speaker,
the media connection that carries them to the centre, and the lane agent assembled."""
