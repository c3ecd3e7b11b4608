"""GAN Companion: a runnable textbook for the GAN exercise of a course on neural networks for images.

Part I trains GANs (``companion.train``), inverts them and uses them as priors;
Part II (``companion.theory``) turns the course's theory questions into checks.
Importing the package runs nothing.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
