import os
import tempfile

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage


class AtomicFileSystemStorage(FileSystemStorage):
    """Local storage where a file appears complete or not at all.

    Django's FileSystemStorage writes straight into the final path, so a worker
    killed mid-write would leave a truncated file that looks like audio. Here
    the bytes go to a temporary file in the same folder and are renamed into
    place, which is atomic on POSIX filesystems.
    """

    def _save(self, name, content):
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if self.file_permissions_mode is not None:
                os.chmod(tmp_path, self.file_permissions_mode)
            # Names are unique (get_available_name ran before us), and link()
            # refuses to overwrite, unlike rename().
            os.link(tmp_path, full_path)
        finally:
            os.unlink(tmp_path)
        return str(name).replace("\\", "/")


def copy_stored(storage, source: str, name: str) -> str:
    """Store a copy of the stored file ``source`` under an available name
    like ``name``; returns that name. On local storage the copy is a hard
    link: no bytes are read or written, and each name is still deleted on its
    own (the data goes with the last one). Elsewhere (S3) the bytes are read
    and saved again."""
    if isinstance(storage, FileSystemStorage):
        while True:
            name = storage.get_available_name(name)
            path = storage.path(name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                os.link(storage.path(source), path)
            except FileExistsError:  # taken since get_available_name looked
                continue
            return str(name).replace("\\", "/")
    with storage.open(source, "rb") as f:
        return storage.save(name, ContentFile(f.read()))
