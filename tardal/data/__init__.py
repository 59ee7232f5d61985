"""Paired infrared/visible data sets: the canonical layout, importers, checks and the Dataset.

The canonical layout of a data set ``ROOT`` (see ``data/README.md``)::

    ROOT/ir/<stem>.<ext>        infrared (grey, 3 identical channels, or 16-bit)
    ROOT/vi/<stem>.<ext>        visible RGB
    ROOT/labels/<stem>.txt      YOLO "cls cx cy w h", normalised to [0, 1]; empty = no objects
    ROOT/meta/{train,val,test}.txt   one stem per line
    ROOT/meta/index.tsv         optional "stem<TAB>ir_path<TAB>vi_path" (images left in place)
    ROOT/data.yaml              names, labels, source, seed, split, ...

Modules (import the one you need; this package imports nothing heavy):

* :mod:`tardal.data.layout`     ``data.yaml``, split files, ``index.tsv``; resolving pairs
* :mod:`tardal.data.imagesize`  image sizes from file headers, without decoding
* :mod:`tardal.data.labels`     YOLO text and Pascal VOC XML parsing and writing
* :mod:`tardal.data.split`      deterministic, seeded, class-stratified splits
* :mod:`tardal.data.importers`  ``IMPORTERS``: m3fd, llvip, msrs, pairs -> canonical layout
* :mod:`tardal.data.check`      validation and statistics of a data set
* :mod:`tardal.data.transforms` registered-pair augmentations and letterbox
* :mod:`tardal.data.dataset`    :class:`PairedDataset` and :func:`collate_pairs` (imports torch)
"""
