"""Practice apps built on pyengine: the handwritten-digit classifier (``mnist``),
with image preprocessing (``images``) and a progress bar (``progress``) shared by
the apps."""
