"""kcplan: Terraform-style plan/apply for Kafka Connect connectors."""

__version__ = "0.1.0"
