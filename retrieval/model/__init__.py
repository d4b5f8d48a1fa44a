"""Model: the sentence encoder and the optional query adapter trained on a corpus's structure."""
