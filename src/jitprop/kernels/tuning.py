"""The kernels' tuning constants, each with what it trades and what chose it.

None of them changes a result: each picks between ways of computing the same
sums in the same order (serial or in parallel, from packed panels or as dot
products), so they may be re-tuned for a new processor without a test
changing. Most are read when a kernel is compiled: a change takes effect in
a new process (the kernel sources' hash, and so the cache key, changes with
this file); the tile plan's are read when a workspace is allocated. Re-tune
with ``jitprop bench`` and the asv suite, comparing old and new in
alternating processes, and name the CPU with each figure.
"""

#: Batches with fewer than this many (rows x parameters) run as one tile,
#: serially (:func:`~.workspace.plan_tile_rows`): below it a batch takes tens
#: of microseconds, and a parallel region (a few microseconds, far more when
#: the machine is busy and a worker thread must be woken) would cost more than
#: it saves. Measured (AMD EPYC Zen 4, 2 threads; 32-h-10 networks, medians of
#: 7 alternating epochs; tiles' speed over one tile's): 0.95 and 0.88 at
#: 180k and 350k, 1.08 at 350k with batches of 256, 1.36 and 1.46 at 700k,
#: 1.33 and 1.03 at 1.4M, 0.91 to 1.21 at 2.8M. The machine's noise is as
#: large as the effect; the limit sits between the first gains and the
#: consistent ones.
SERIAL_WORK = 1 << 20

#: Fewest rows in a tile: the weight gradient is a product over the rows of a
#: tile, and short products run far below the machine's peak.
MIN_TILE_ROWS = 64

#: Most tiles in a batch.
MAX_TILES = 8

#: Most gradient elements held by the tiles of a batch together.
TILE_GRADIENT_BUDGET = 1 << 22

#: Parameters per chunk of a batch's gradient reduction and update
#: (:func:`~.batch.reduce_tiles`, :func:`~.step.sum_and_update`): the tiles'
#: gradients of one chunk (16,384 float32 take 64 KiB a tile) stay in the
#: L2 cache while they are summed, applied and checked.
REDUCE_CHUNK = 16384

#: Fewest parameters whose reduction (:func:`~.batch.reduce_tiles`) runs its
#: chunks in parallel; fewer reduce serially, in the same chunks (a parallel
#: region costs more than it saves on so little memory traffic). Measured on
#: its own (AMD EPYC Zen 4, 2 threads, float32, 2 tiles, one call after
#: another, best of 15, medians of 3 alternating processes compiled always
#: serial and always parallel): parallel over serial 0.86, 0.65, 0.66, 0.62,
#: 0.56 for 2^15 to 2^19 parameters. The limit was chosen on whole epochs,
#: where a parallel region right after a batch's tiles cost more than it
#: saved; on its own, the parallel reduction pays from two chunks.
PARALLEL_REDUCE = 1 << 17

#: Fewest parameters whose sum-and-update (:func:`~.step.sum_and_update`)
#: runs its chunks in parallel, for the same reason. Measured as above (SGD):
#: parallel over serial 0.70, 0.64, 0.64, 0.56, 0.56 for 2^15 to 2^19.
PARALLEL_STEP = 1 << 17

#: Fewest outputs of a dense layer whose forward product runs from packed
#: panels (:mod:`.panels`): narrower ones would fill little of a 16-wide block.
#: Measured for a 64-row float32 tile (AMD EPYC Zen 4, best of 7; time of the
#: panels over the dot products, the tile's packing included): with 16
#: outputs, 0.86 for 32 inputs but 1.16, 1.32 and 1.46 for 64, 96 and 128;
#: with 64 outputs, 0.50 to 0.90 below 128 inputs. So 16-output layers of 64
#: to 127 inputs would run faster as dot products here: a limit of 32 outputs
#: (not measured) may suit such layers better.
MIN_PANEL_OUTPUTS = 16

#: Fewest inputs of a dense layer whose forward product runs as dot products
#: (:func:`~.matmul.matmul_nt`) instead: over rows this long those run as fast
#: and need no packed copy of the weights, which costs a pass over them after
#: every update (the W1 network's 784-input first layer). Measured as above,
#: panels over dot products: 0.90, 0.92, 1.02, 1.18, 1.38 for 128, 192, 256,
#: 512, 784 inputs with 64 outputs, and 0.74 to 1.00 with 256 outputs; packing
#: the weights after each update costs another 2.8 µs (128 x 64) to 133 µs
#: (784 x 256) a batch, about even with the panels' gain at 128 inputs for a
#: batch of two tiles.
MAX_DOT_INPUTS = 128

#: Fewest inputs of a dense layer whose gradient products run from packed
#: panels; narrower ones run as plain loops (:func:`~.matmul.matmul_nn`).
#: Measured for the weight gradient of a 64-row float32 tile (AMD EPYC Zen 4,
#: best of 9; panels' time over the loops'): 0.62 to 0.42 with 16 outputs and
#: 0.31 to 0.22 with 64 or 256, from 2 inputs up; but 2.32, 2.12, 1.80, 1.40
#: with 2 outputs for 2, 4, 8, 16 inputs (about even for a 1-row tile). What
#: decides is the number of outputs more than that of inputs: a limit on
#: outputs (about 16) would suit these products better (not yet tried on
#: whole networks).
MIN_PANEL_INPUTS = 8

#: Fewest packed weights whose packing (:func:`~.dense.pack_weights`) runs in
#: parallel. W1's panels hold 34,048 of its 235,146 weights and pack in about
#: the same time serially as in 24 tasks on two threads (6 and 7 µs when the
#: limit was chosen): below this, serially. Measured as for the reduction
#: (64-h-h-10 networks): parallel over serial 0.67, 1.34, 0.99, 0.61 for
#: 12,928, 25,856, 84,480 and 300,032 packed weights: even around the limit,
#: a gain well above it.
PARALLEL_PACK = 1 << 16

#: Tasks of a parallel packing: many per thread, so that shares come out even.
PACK_TASKS = 64

#: Rows of ``b`` that :func:`~.matmul.matmul_nt` visits together, so that
#: they stay in cache while every row of ``a`` passes over them.
COLUMN_BLOCK = 64

#: Rows of ``a`` per task of :func:`~.matmul.parallel_matmul_nt`.
PARALLEL_ROWS = 64

#: Examples of the next batch whose rows are prefetched while a batch runs
#: (:mod:`.prefetch`); its later rows arrive while these are copied.
AHEAD_ROWS = 8
