"""Model families. Importing this package registers every model."""

from keras_zoo.models import bert, cnn, dense, gan, rnn, transformer  # noqa: F401
