"""The mask-provider registry."""

from tardal.registry import Registry

MASKS = Registry("mask provider")
