"""The kernels' tuning constants, each with what it trades and a measurement of it.

Most of them pick between ways of computing the same sums in the same order
(serially or in parallel, from packed panels or as dot products), so they
may be re-tuned for a new processor without a result changing. The tile
plan's (``SERIAL_WORK``, ``MIN_TILE_ROWS``, ``MIN_TILE_EXAMPLES``, ``MAX_TILES``,
``TILE_GRADIENT_BUDGET``), ``REDUCE_CHUNK`` and ``CHUNK_GROUP`` decide where a batch's
sums are cut, so changing them changes results in their last bits (the thread
count never does). Most are read when a kernel is compiled: a change takes
effect in a new process (the kernel sources' hash, and so the cache key,
changes with this file); the tile plan's are read when a workspace is
allocated.

The measurements below were made on this project's 2-thread AMD EPYC (Zen 4)
machine on 2026-12-03: alternatives of a constant compiled into kernels each
in a process of its own, those of the tile plan alternated within one, and
kernels compared on the same shapes called back to back. Where a figure
favours another value, the value is
kept until whole workloads confirm it (``jitprop bench`` and the asv suite,
old and new in alternating processes, with the CPU named).
"""

#: Batches with less work than this (rows x multiply-adds per row: each
#: weight times the places it applies at, :func:`~.kinds.weight_uses`; a dense
#: network's parameters) run as one tile, serially (:func:`~.workspace.plan_tile_rows`): below it a batch takes tens
#: of microseconds, and a parallel region (a few microseconds, far more when
#: the machine is busy and a worker thread must be woken) would cost more than
#: it saves. Measured (AMD EPYC Zen 4, 2 threads; 32-h-10 networks, medians of
#: 7 alternating epochs; tiles' speed over one tile's): 0.95 and 0.88 at
#: 180k and 350k, 1.08 at 350k with batches of 256, 1.36 and 1.46 at 700k,
#: 1.33 and 1.03 at 1.4M, 0.91 to 1.21 at 2.8M. The machine's noise is as
#: large as the effect; the limit sits between the first gains and the
#: consistent ones. Batches without gradients (prediction, evaluation) do a
#: third of the products per row and run serially below three times the limit:
#: evaluating the 359 validation digits of a 64-64-10 network after each of
#: ``jitprop train``'s 310 epochs in two tiles made the whole training take
#: 3.05 s on 2 threads against 0.56 s on one, on a busy machine.
SERIAL_WORK = 1 << 20

#: Fewest rows of a tile's products: the weight gradient is a product over the
#: rows of a tile (times the places a weight applies at in each: a
#: convolution's positions, a recurrent layer's steps), and short products run
#: far below the machine's peak. Measured on W1
#: (784-256-128-10, batches of 128, AMD EPYC Zen 4, 2 threads, medians of 5
#: alternating epochs, speed against 64's): 0.93 with 32 rows (4 tiles),
#: 0.59 with 128 (one tile). A pass without gradients (a prediction, an
#: evaluation) sums nothing over a tile's rows, and its tiles hold
#: ``MIN_TILE_EXAMPLES`` rows or more: 32 rows through W1's network took 0.73
#: of the time (two tiles instead of one), 200 rows 0.82 (Intel Xeon of the
#: Sapphire Rapids class, 2 threads, 3 alternating rounds).
MIN_TILE_ROWS = 64

#: Fewest examples in a tile, however many rows of products each makes (a
#: convolution's positions, a recurrent layer's steps; see
#: :func:`~.workspace.plan_tile_rows`): a recurrent layer's step runs the
#: tile's examples together through one product. Measured (AMD EPYC Zen 4,
#: 1 thread, the bench's quick W7, W8 and W5, examples/s by rows per tile):
#: W7 (batches of 32) 6,198, 6,466 and 5,609 with 32, 16 and 8; W8 (64)
#: 1,467 and 1,324 with 32, 1,454 and 1,322 with 16 (two alternating
#: rounds); W5 (64) 3,079, 2,872 and 3,245 with 32, 16 and 8. On 2 threads,
#: tiles of 16 made W7 1.78x and W5 1.6x faster than the one tile of the
#: plan by rows alone, and tiles of 32 W8 1.9x. (All with 6-row panels;
#: with the 8-row panels of AVX-512, W7's 4 tiles of 8 against 2 of 16 on
#: 2 threads, 4 alternating rounds, s an epoch: 0.109, 0.145, 0.119, 0.093
#: against 0.098, 0.104, 0.089, 0.099.)
MIN_TILE_EXAMPLES = 16

#: Most tiles in a batch. Measured as above with batches of 512: 1.01, 1.01
#: and 1.00 for 2, 4 and 8 tiles; on two threads it makes no difference
#: (more threads need more tiles, which is what 8 leaves room for).
MAX_TILES = 8

#: Most gradient elements held by the tiles of a batch together (each tile
#: has a gradient buffer of its own). Measured on W3 (1024-1024-1024-10,
#: 3.1 M parameters, batches of 256, as above): 2^22 and 2^23 (two tiles)
#: and 2^24 (four) ran at 1.00, 0.77 and 1.01, the 0.77 of the same plan as
#: 2^22 being this machine's noise: no difference on two threads.
TILE_GRADIENT_BUDGET = 1 << 22

#: Parameters per chunk of a batch's gradient reduction and update
#: (:func:`~.batch.reduce_tiles`, :func:`~.step.sum_and_update`): the tiles'
#: gradients of one chunk (16,384 float32 take 64 KiB a tile) stay in the
#: L2 cache while they are summed, applied and checked. Measured (AMD EPYC
#: Zen 4, 2 threads, float32, 2 tiles, SGD, best of 15, medians of 3
#: alternating processes, µs for 2^16 and 2^18 parameters): update 41.6 and
#: 107.9 with chunks of 4,096, 37.7 and 89.4 with 16,384, 37.4 and 86.2 with
#: 65,536; the reduction alone 16.0/49.2, 18.4/46.4, 15.9/46.5.
REDUCE_CHUNK = 16384

#: A batch's gradient cut into more than one chunk is cut into a multiple of
#: this many, of one size (but the last), so that two, four or eight threads
#: get equal shares: ``REDUCE_CHUNK`` alone cut 784-128-10's 101,770
#: parameters into 7 chunks, the last a fifth of the others, of which the
#: omp layer gave one thread 4 and the other 2.2 chunks' work. Measured
#: (Intel Xeon of the Sapphire Rapids class, 2 threads, ``fit(epochs=1)``
#: on 8,192 examples in batches of 128, processes of their own alternating,
#: medians of 15 fits): 784-128-10 23.2 ms against 24.9 (4 rounds, each
#: faster); W1's network 0.99 to 1.05 times the examples a second; W3's and
#: W5's as before. (The cuts change the squared norm's last bits, and so a
#: clipped gradient's.)
CHUNK_GROUP = 8

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
#: runs its chunks in parallel. Measured as above (SGD): parallel over serial
#: 0.70, 0.64, 0.64, 0.56, 0.56 for 2^15 to 2^19. The limit was 2^17, for
#: the reason of ``PARALLEL_REDUCE``, until whole fits on a 2-core Intel Xeon
#: (Sapphire Rapids class, one thread a core, omp; 2026-12-05; fits in
#: processes of their own, alternating, medians of 3) ran faster with 2^15:
#: ``fit(epochs=1)`` of 784-128-10 (101,770 parameters; 8,192 examples,
#: batches of 128) 23.2 -> 20.1 ms, of W5's network (61,706) 63.5 -> 59.8 ms,
#: of 784-48-10 (38,170) 10.5 -> 10.4 ms. In a serial step the other thread
#: waits: 13% of the samples of the 784-128-10 fit were the step's. Not
#: measured again on Zen 4. The results do not depend on it: the chunks are
#: the same either way.
PARALLEL_STEP = 1 << 15

#: Fewest outputs of a dense layer whose forward product runs from packed
#: panels (:mod:`.panels`): narrower ones would fill little of a block (16
#: columns then; 32 with AVX-512 since, not measured again).
#: Measured for a 64-row float32 tile (AMD EPYC Zen 4, best of 7; time of the
#: panels over the dot products, the tile's packing included): with 16
#: outputs, 0.86 for 32 inputs but 1.16, 1.32 and 1.46 for 64, 96 and 128;
#: with 64 outputs, 0.50 to 0.90 below 128 inputs. So 16-output layers of 64
#: to 127 inputs would run faster as dot products here: a limit of 32 outputs
#: (not measured) may suit such layers better.
MIN_PANEL_OUTPUTS = 16

#: Fewest inputs of a dense layer whose forward product reads no packed copy
#: of the weights, which costs a pass over them after every update (the W1
#: network's 784-input first layer): it reads them where they lie
#: (:func:`~.panels.matmul_nt_reading_b`, see
#: :func:`~.dense.forward_product`), or runs as dot products
#: (:func:`~.matmul.matmul_nt`) over a tile of few rows. The figures below
#: are of the dot products, which all such layers ran then. Measured as above,
#: panels over dot products: 0.90, 0.92, 1.02, 1.18, 1.38 for 128, 192, 256,
#: 512, 784 inputs with 64 outputs, and 0.74 to 1.00 with 256 outputs; packing
#: the weights after each update costs another 2.8 µs (128 x 64) to 133 µs
#: (784 x 256) a batch, about even with the panels' gain at 128 inputs for a
#: batch of two tiles. With panels for every input width (the 64-byte
#: micro-kernel, Intel Xeon of the Sapphire Rapids class, own processes, 3
#: alternating rounds): W1 trained 0.76 times as fast, W3 1.01; again with
#: the weights' panels packed by rows of the panel (:func:`.panels.pack_row_panel`,
#: twice as fast; same machine, medians of 4 rounds): W1 0.97, W3 0.99. A prediction,
#: which packs once for all its rows, reads panels for every width instead
#: (see :func:`.dense.forward_from_panels`).
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

#: Most multiply-adds of a dense product (rows x inputs x outputs) that runs
#: as plain loops written into the tile (:func:`~.matmul.small_matmul_nt`,
#: :func:`~.matmul.small_matmul_nn`) instead of a call to a kernel of its own:
#: the call passes three arrays (some 30 machine words) and returns, which
#: costs more than a few dozen multiply-adds. Measured with the update step's
#: helpers also written into it (:mod:`.step`; Intel Xeon of the Sapphire
#: Rapids class, 2 threads, own processes, medians of 3 alternating rounds):
#: W4 in batches of one (2-2-2, every product 2 x 2) 2.02 M updates/s ->
#: 2.80 M; W4 in batches of 64 (products of 256) 10.07 M -> 10.23 M, W2 and
#: W1 (no product this small) 1.01 and 1.05, within the noise.
SMALL_PRODUCT = 256

#: Fewest parameters whose tiles' gradients the step sums onto the first
#: tile's buffer rather than into the batch's gradient buffer (see
#: :mod:`.step`): where the tiles' gradients leave the cores' caches, the
#: store of that sum is a pass to memory saved. W3's network (2.1 million
#: parameters, 2 tiles a batch; 2 threads, Intel Xeon of the Sapphire Rapids
#: class, 5 alternating rounds) ran 1.045 times as fast (rounds 0.99 to 1.08);
#: W5's (61,706 parameters, 4 tiles) 0.82, 0.99, 0.94, 1.00 (4 rounds in a
#: noisy spell: no gain, within the noise), its gradients in cache, where
#: adding onto the first tile's lines takes them from the thread that wrote
#: them; grad's lines of a chunk stay with the thread that updates it. The
#: sums are the same either way.
SUM_ONTO_FIRST_TILE = 1 << 20

#: Fewest packed weights whose packing (:func:`~.dense.pack_weights`) runs in
#: parallel. W1's panels hold 34,048 of its 235,146 weights and pack in about
#: the same time serially as in 24 tasks on two threads (6 and 7 µs when the
#: limit was chosen): below this, serially. Measured as for the reduction
#: (64-h-h-10 networks): parallel over serial 0.67, 1.34, 0.99, 0.61 for
#: 12,928, 25,856, 84,480 and 300,032 packed weights: even around the limit,
#: a gain well above it.
PARALLEL_PACK = 1 << 16

#: Tasks of a parallel packing: many per thread, so that shares come out even.
#: Measured as for the reduction (64-h-h-10 networks, µs for 84,480 and
#: 300,032 packed weights): 19.2 and 57.6 with 16 tasks, 19.4 and 67.4 with
#: 64, 18.8 and 49.7 with 256; within this machine's noise of each other.
PACK_TASKS = 64

#: Fewest panels a task of a parallel packing packs (every tasks-th panel,
#: see :func:`~.dense.pack_weights`): with a panel a task, contiguous ranges
#: of tasks (the omp layer's static shares) are contiguous ranges of panels,
#: and W3's 64 panels (32 of a 1024 x 1024 layer's weights, 32 of the
#: 10-output layer's) went 32 wide ones to one thread and 32 small ones to
#: the other: the first thread packed three times as long (perf, 2 threads).
PACK_PANELS_PER_TASK = 4

#: Terms ``k`` of the sums that :func:`~.panels.multiply_panels` takes from each panel at a time: a
#: part of a B panel of this depth (32 KiB of float32 at 32 columns) stays in the L1 cache while
#: every A panel passes it.
DEPTH_BLOCK = 256

#: Rows of ``b`` that :func:`~.matmul.matmul_nt` visits together, so that
#: they stay in cache while every row of ``a`` passes over them. Measured for
#: a 64-row float32 tile (as above, µs for 784 x 256, 128 x 10 and
#: 1024 x 1024 weights): 251/3.3/1354 with blocks of 32, 249/2.6/1298 with
#: 64, 248/2.5/1340 with 128: no difference beyond the noise.
COLUMN_BLOCK = 64

#: Fewest multiply-adds a row (inputs x outputs) of a dense layer's
#: dot-product forward that a batch of one tile spreads over the threads, its
#: outputs cut into blocks of ``COLUMN_BLOCK``
#: (:func:`~.matmul.parallel_columns_matmul_nt`): a prediction of one
#: example, where the rows cannot be shared. Only networks that have such a
#: layer and run such batches compile it (see :func:`.tile.network_kernels`). One example through W1's first
#: layer (784 x 256, 200,704 multiply-adds) took 8.6 µs on one thread and
#: 5.3 µs on two, a parallel region of the omp layer about 0.9 µs (Intel
#: Xeon, Sapphire Rapids class).
SPLIT_COLUMNS_WORK = 1 << 17

#: Rows of ``a`` per task of :func:`~.matmul.parallel_matmul_nt` (and of
#: :func:`~.panels.parallel_matmul_nt_reading_b`: two panels of float32 rows). Measured
#: for 1,024 x 784 inputs and 256 x 784 weights (as above): 2,655, 2,468 and
#: 2,491 µs with 32, 64 and 128 rows.
PARALLEL_ROWS = 64

#: Examples of the next batch whose rows are prefetched while a batch runs
#: (:mod:`.prefetch`); its later rows arrive while these are copied. Measured
#: on the bench's quick W4 batch 1 and W2 (as above, examples/s): 1.43 M and
#: 1.60 M without prefetching, 1.15 M and 1.17 M with 8 rows, 1.15 M and
#: 1.09 M with 32, round to round within 1.0 M to 1.9 M. These data fit in
#: the L2 cache, where a prefetch has nothing to hide; the limit was chosen
#: for data that does not, and these figures do not show it paying for them.
AHEAD_ROWS = 8

#: Rows of the matrix of windows a tile lowers at a time in a convolution
#: (:mod:`.conv`; at least one example's): enough for the micro-kernel's sums
#: over them (the weight gradient) to run long, few enough for the chunk to
#: stay in cache. Measured on the bench's W6 and quick W5 (as above, each
#: value compiled in a process of its own, 3 alternating rounds,
#: examples/s): W6 67k, 70k, 86k with 64 rows; 77k, 115k, 87k with 256;
#: 95k, 107k, 89k with 1,024. W5 2.9k, 2.6k, 2.8k; 2.9k, 3.4k, 2.8k;
#: 2.7k, 3.6k, 2.8k. 64 is too few; 256 and 1,024 are within the noise.
CHUNK_ROWS = 256

#: Most filters of a convolution whose forward product and weight gradient
#: put the output positions along the vectors (:mod:`.position_panels`: each
#: example lowered by long contiguous copies, positions that are no output
#: computed and dropped) rather than its filters (:mod:`.conv`: windows
#: lowered a few elements at a time, then packed again). Measured per layer
#: on a tile of 16 examples (AMD EPYC Zen 4, 1 thread, float32, medians of 30
#: calls, two rounds of alternating processes, µs an example, forward and
#: backward, by filters then by positions): W5's 28x28x1 -> 6@5x5 same
#: 81-85/99-111 then 12-20/22-30; W5's 14x14x6 -> 16@5x5 valid 30/64-68 then
#: 16-17/42-44 (though 40% of its columns are dropped); W6's 8x8x1 -> 16@3x3
#: 3.4-3.9/4.4-4.6 then 2.5-2.6/2.6; 14x14x16 -> 32@3x3 same 35-36/79-82 then
#: 26-30/54-63; 12x12x32 -> 32@3x3 valid 17-19/27-41 then 15-16/32-34;
#: 14x14x16 -> 64@3x3 same 46-50/106-109 then 49-87/93-191 (the panels of
#: positions are read once per 6 filters, the panel rows then; 8 with
#: AVX-512 now). So the limit sits at 32.
POSITION_PANEL_FILTERS = 32
