"""The training engine: everything `fit_model` needs to train any NNX model into a run
folder (the step loop, `Trainer`, checkpoints, data feeds, metric writers, device
meshes, multi-host, the run lock, interrupts, progress). It knows nothing of configs or
tasks (`jaxlstm.train.lab`)."""
