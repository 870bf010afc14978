"""Interop fixture for SafeTensorsTests, written by the reference `safetensors` package.

    pip install safetensors numpy
    python3 Tests/MBCoreTests/Fixtures/make_safetensors_fixture.py   # writes python_written.safetensors here

Generated with safetensors 0.8.0 and numpy 2.4.6. SafeTensorsTests.testReadsAFileWrittenByPython
expects exactly the tensors and metadata below.

The other direction was checked by hand once: a file written by `SafeTensors.write(to:)` (the
tensors of SafeTensorsTests.sample(), saved to /tmp/mbc-written.safetensors by a throwaway test)
was read back with

    python3 -c "from safetensors.numpy import load_file; from safetensors import safe_open; \
      t = load_file('/tmp/mbc-written.safetensors'); print({k: (v.dtype, v.shape, v.ravel()[:4]) for k, v in t.items()}); \
      print(safe_open('/tmp/mbc-written.safetensors', 'np').metadata())"

which printed every tensor with the dtype, shape and values the test wrote, and the metadata map.
"""
import os

import numpy as np
from safetensors.numpy import save_file

TENSORS = {
    "weight": np.array([[1.5, -2.25, 3.0e-8], [-0.0, 1e-45, 3.4028235e38]], dtype=np.float32),
    "packed": np.array([[-1, 0], [2147483647, -2147483648]], dtype=np.int32),
    "bytes": np.array([0, 1, 127, 128, 255], dtype=np.uint8),
    "step": np.array(1234567890123, dtype=np.int64),
    "empty": np.zeros((0, 3), dtype=np.float32),
}
METADATA = {"format": "mbc-test", "version": "1"}

if __name__ == "__main__":
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "python_written.safetensors")
    save_file(TENSORS, path, metadata=METADATA)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
