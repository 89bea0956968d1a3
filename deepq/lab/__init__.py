"""The value-function-approximation lab: the theory of the design document, runnable.

Approximators (``features``), pure learning rules (``rules``), small environments and
exact dynamic programming (``envs``), and one module per experiment (``random_walk``,
``mountain_car``, ``baird``, ``triad``, ``convergence``), run by ``deepq lab NAME``.
The core package never imports this one.
"""
