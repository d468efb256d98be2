"""Makes the media the tests send: a small receipt as PNG and JPEG, the same receipt as a
one-page PDF, and a short WAV tone. Needs Pillow (`pip install pillow`); run from this folder.
The files are checked in, so the tests never need Pillow."""

import math
import struct
import wave

from PIL import Image, ImageDraw

image = Image.new("RGB", (160, 96), "white")
draw = ImageDraw.Draw(image)
for y, line in enumerate(["ACME STORE", "Coffee   3.50", "Bagel    2.25", "TOTAL    5.75"]):
    draw.text((8, 6 + 22 * y), line, fill="black")
image.save("receipt.png", optimize=True)
image.save("receipt.jpg", quality=80)
image.save("receipt.pdf")

with wave.open("tone.wav", "wb") as out:
    out.setnchannels(1)
    out.setsampwidth(2)
    out.setframerate(8000)
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(4000))
    out.writeframes(frames)
