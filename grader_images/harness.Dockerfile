# The grader image: a runtime image (grader_images/<kind>/Dockerfile) plus the in-sandbox
# harness, `autograder/harness/` alone, at /opt/dlgrade/autograder/harness (`autograder` is a
# namespace package there). The build context holds only the harness, so a change rebuilds in
# seconds, and nothing of the engine (comparison, scoring) is inside the image.
ARG RUNTIME_IMAGE
FROM ${RUNTIME_IMAGE}
USER root
COPY autograder /opt/dlgrade/autograder
# Byte-code now: the root file system is read-only at run time.
RUN python3 -m compileall -q /opt/dlgrade
ENV PYTHONPATH=/opt/dlgrade
USER 65534:65534
WORKDIR /scratch
CMD ["python3", "-m", "autograder.harness.run", "--help"]
