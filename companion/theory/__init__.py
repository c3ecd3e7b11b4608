"""Part II: the course's theory questions as code that computes, plots and is asserted by pytest.

- `companion.theory.saturation`: the minimax generator's gradient vanishes (SymPy).
- `companion.theory.minimax`: the order of min and max.
- `companion.theory.flows`: normalizing flows give exact log p(x); GANs and GLO do not.
"""

__all__: list[str] = []
