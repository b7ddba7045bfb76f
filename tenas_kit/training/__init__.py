"""Training a found cell (``tenaskit train``, ``tenas_kit.train``).

| module | holds |
|---|---|
| ``lifecycle.py`` | ``Training``: everything looked up and checked before work starts; finished, resumed runs |
| ``splits.py`` | the training and evaluation images: a test split, or images held out reproducibly; decoded once |
| ``batches.py`` | batches assembled on the device: order, crop and flip, normalisation, cutout, each draw seeded |
| ``loop.py`` | the network, its optimiser and precision; a step, an epoch, an evaluation |
| ``trainfile.py`` | the results file: epochs, the checkpoint, atomic and checksummed commits |
| ``export.py`` | TorchScript and ONNX files of the trained network |
"""
