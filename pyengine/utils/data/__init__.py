"""Data loading with PyTorch's names: Dataset, TensorDataset, DataLoader, random_split."""
from pyengine.utils.data.dataloader import DataLoader, default_collate
from pyengine.utils.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split

__all__ = ["Dataset", "TensorDataset", "ConcatDataset", "Subset", "random_split", "DataLoader", "default_collate"]
