"""The protocol's stages, each a step of one cell: the teacher and its cached outputs
(`teacher`, `teacher_outputs`), self-supervised pretraining (`pretrain`, `augment`),
distillation (`distill`), evaluation by probe and few-label fine-tunes (`evaluate`,
`outcomes`), the modality-gap estimates (`gaps`, with its estimators on plain tensors in
`gap_estimators`), and the training loop they share (`loop`, `training`, `checkpoint`).
Imports only the core modules of `benchmark`."""
