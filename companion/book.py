"""The book's table of contents: the chapters that have exercises and notebooks, in book order."""

__all__ = ["TITLES"]

#: Chapter module name (``companion.chapters.<name>``, ``notebooks/<name>.py``) -> its title in the book.
TITLES = {
    "gan_losses": "1. GAN losses",
    "inversion": "2. GAN inversion",
    "restoration": "3. Restoration with a GAN prior",
    "stabilisers": "4. How far a 28x28 GAN can go",
    "glo": "5. GLO: the generator without a discriminator",
    "flows": "II.1 Flows and exact likelihood",
    "saturation": "II.2 The saturating generator gradient",
    "minimax": "II.3 The order of min and max",
}
