"""Detector pieces whose norms come from norm_layers: FPN, RetinaNet/RPN/box heads, model builders."""
