# The image the Kubernetes launch files name (run_sweep.py submit --engine k8s): this repository at /app.
#   docker build -t frn-detection-bench:latest .   (for GPUs: FROM a CUDA base, pip install -e .[gpu])
FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e .
