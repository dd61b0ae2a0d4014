"""The compression front end: pieces that hook into your own PyTorch training loop.

  prune       magnitude pruning (layer-wise, global, N:M) through torch.nn.utils.parametrize,
              with Zhu & Gupta's gradual schedule as a step callback; `finalize` bakes masks in
  structured  channel removal that rewrites every consumer: a smaller dense model
  cluster     k-means weight sharing (exact 1-D DP, linear, density, k-means++ init), per layer
              or per channel, centroids fine-tuned by gradient, pruned zeros kept
  qat         quantization-aware training (Jacob et al. 2018) with torch's fake-quantize ops and
              batch-norm folding; `microflat.compiler.compile` reads its quantization as is
  distill     the Hinton distillation loss
  lowrank     SVD factorization of linear and conv layers (two layers each)
  recipe      steps chained (dataclasses or TOML); pipeline.run applies and measures them
  sensitivity per-layer pruning sensitivity and a plan of per-layer rates for a target size
  program     a saved ExportedProgram (.pt2) rebuilt as a trainable module with real layers
  command     `microflat compress` (add_arguments, run): a recipe on a .pt2 and an .npz, or a zoo model

Every wrapper keeps its state in parameters and buffers, so it works under
DistributedDataParallel (tests/test_compress_ddp.py).
"""
