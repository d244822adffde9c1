"""Plate crops an agent reads a misread plate from: cut the plate out of a lane's snapshot
(by the camera's box, or found by its colour and characters when there is none), level
it, enlarge it and sharpen it, and encode it to serve. Pure functions on NumPy images
(OpenCV's BGR order), no I/O; ``bench/plate_crops.py`` measures them. And the crop's
second reading by an OCR model (``ocr.py``), which loads the model from its package on
the first read; ``bench/plate_ocr.py`` measures it.
"""
