from shared.runtime import main

from .service import SPEC

main(SPEC)
