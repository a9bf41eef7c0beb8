# The grader image: a runtime image (grader_images/<kind>/Dockerfile) plus the dlgrade
# harness, the `autograder` package, at /opt/dlgrade/autograder. The build context holds
# only `autograder/`, so a harness change rebuilds in seconds.
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
