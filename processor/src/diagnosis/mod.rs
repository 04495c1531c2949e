//! Diagnosis: classification of Kubernetes messages into codes (placeholder).
