"""Norm-pluggable backbones (docs/ARCHITECTURE.md): ResNet-50 v1/v2, InceptionV3, VGG-A.

Each takes a norm_layers factory, returns feature maps keyed by level ('2'..'5') with
`output_specs`, and is registered with Model Garden by `backbones.registration`
(import `backbones.registry_imports` to register everything, the classifier task included).
"""
