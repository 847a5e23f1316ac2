"""One module per family; importing them in paper order registers the models in that order."""

from explorer.models.architectures import lenet  # noqa: F401  (1998)
from explorer.models.architectures import alexnet  # noqa: F401  (2012)
from explorer.models.architectures import nin  # noqa: F401  (2013)
from explorer.models.architectures import vgg  # noqa: F401  (2014)
from explorer.models.architectures import googlenet  # noqa: F401  (2014)
from explorer.models.architectures import inception  # noqa: F401  (2015)
from explorer.models.architectures import resnet  # noqa: F401  (2015)
from explorer.models.architectures import densenet  # noqa: F401  (2017)
from explorer.models.architectures import mobilenet  # noqa: F401  (2017, 2018)
