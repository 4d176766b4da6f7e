"""Data sets: loading (registry, subsets, CIFAR, npz), more torchvision sets and image folders, and
the synthetic set.
"""
