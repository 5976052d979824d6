"""The one Keras registration decorator for this project's layers."""
import tf_keras

PACKAGE = "frn_bench"

register = tf_keras.saving.register_keras_serializable(package=PACKAGE)
