"""Multi-worker cells (TF_CONFIG): every worker resumes from the chief's checkpoint.

Model Garden gives a non-chief worker a temporary checkpoint folder (its variables must be saved in
step with the chief's, but not over them), so after a restart the non-chief would initialize at
step 0 while the chief restores step N: the workers would then create and broadcast different
variables and the job fails ("Collective instance ... expected data_type ..."). Here a non-chief
keeps its temporary folder for saving but restores from the chief's model_dir, so every worker
starts at the chief's step, creates the same variables in the same order, and saves at the same
steps. tests/test_multi_worker.py kills and resumes a 2-worker cell.
"""
import tensorflow as tf
from official.core import train_lib


class ChiefRestoringCheckpointManager(tf.train.CheckpointManager):
    """Saves into its own (temporary) folder, restores the newest checkpoint of `restore_from`."""

    def __init__(self, *args, restore_from, **kwargs):
        super().__init__(*args, **kwargs)
        self.restore_from = restore_from

    def restore_or_initialize(self):
        latest = tf.train.latest_checkpoint(self.restore_from)
        if latest:
            self._latest_checkpoint = latest  # what the base class restores (and the step it counts from)
        return super().restore_or_initialize()


class ExperimentRunner(train_lib.OrbitExperimentRunner):
    """Model Garden's runner, with non-chief workers restoring from the chief's checkpoints."""

    def _maybe_build_checkpoint_manager(self):
        manager = super()._maybe_build_checkpoint_manager()
        if manager is None or not self.strategy or self.strategy.extended.should_checkpoint:
            return manager
        return ChiefRestoringCheckpointManager(
            self.trainer.checkpoint, directory=manager.directory, max_to_keep=1,
            step_counter=self.trainer.global_step, checkpoint_interval=self.params.trainer.checkpoint_interval,
            init_fn=self.trainer.initialize, restore_from=self.model_dir)
