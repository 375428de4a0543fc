"""The 21 class names of PASCAL VOC (index = class id in the masks, 0 = background).

A module of its own, without numpy: the table layout (fdiff.report.specs) names Table 7's
columns with them, and the Snakefile reads that layout at parse time.
"""

CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
