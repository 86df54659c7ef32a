"""Datasets on disk: the manifest, the dataset folder, training pairs."""
