"""The console for a deployed stack (or the local stack's AWS side): the inbox's clarity for
production, served on the operator's machine with their own AWS credentials. docs/console.md."""
