"""Self-distillation training: losses and the fine-tuning loop."""
