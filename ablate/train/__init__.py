"""Training one run: the trainer, optimiser, augmentation, randomness, device, checkpoints, models,
and what is done to a model (kernel smoothing, attacks).
"""
