"""Real servers on loopback for the Google Cloud sources: the Firestore emulator, the
BigQuery emulator, and a local gRPC server for Cloud Run and Cloud Logging."""
