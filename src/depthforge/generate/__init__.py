"""From easy images and their labels to hard images: prompts, backends, the consistency filter."""
