"""The package name under which every serializable class of `sketchgloc_tf2` is registered.

Saved models name their classes `sketchgloc_tf2>ClassName`; changing it breaks loading of every
checkpoint and export already written.
"""

SERIALIZATION_PACKAGE = "sketchgloc_tf2"
