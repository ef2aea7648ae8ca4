//! Persistent transactional memory (Romulus) over a mapped region.
