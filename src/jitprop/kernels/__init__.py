"""Every compiled function of jitprop, and nothing else.

Kernels take arrays and scalars, write into buffers their caller allocated,
and branch on small integer codes instead of taking functions.
"""
