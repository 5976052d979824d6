# The image the Kubernetes launch files name (run_sweep.py submit --engine k8s): this repository's code at /app.
#   docker build -t frn-detection-bench:latest .                      CPU TensorFlow (the default)
#   docker build --build-arg EXTRAS=gpu -t frn-detection-bench:gpu .  NVIDIA GPUs: tensorflow[and-cuda] (pyproject's
#                                                                     gpu extra; the nodes need only the driver)
# Sweep files, data, checkpoints, results and runs are not in the image: they live on the shared volume (/work).
FROM python:3.11-slim
ARG EXTRAS=""
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e .${EXTRAS:+[$EXTRAS]}
