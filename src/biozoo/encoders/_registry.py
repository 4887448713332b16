from torch import nn

from biozoo.registry import Registry

ENCODERS: Registry[type[nn.Module]] = Registry("encoder")
