"""Import Service mode: SAS checks, PST upload to Azure Blob storage, the mapping CSV,
the PowerShell scripts the admin runs, clean-up of old uploads, and the drop folder.

`core.importservice.blobstore` is the only module that touches azure-storage-blob.
"""
