"""A custom import-linter contract: no module under the given packages imports the root package.

import-linter's ``forbidden`` contract treats a root package as all of its descendants, so it
cannot say "never ``import flywheel`` itself" (whose ``__init__`` pulls in the SDK and would
tie every layer to it). This contract checks direct imports of the root module only.
"""

from __future__ import annotations

from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class NoRootImportContract(Contract):
    source_modules = fields.ListField(subfield=fields.ModuleField())
    root = fields.StringField()

    def check(self, graph, verbose: bool) -> ContractCheck:  # noqa: ANN001 - grimp graph
        found = []
        for source in self.source_modules:
            for module in {source.name, *graph.find_descendants(source.name)}:
                if self.root in graph.find_modules_directly_imported_by(module):
                    found.append(module)
        return ContractCheck(kept=not found, metadata={"modules": sorted(found)})

    def render_broken_contract(self, check: ContractCheck) -> None:
        from importlinter.application import output

        for module in check.metadata["modules"]:
            output.print_error(f"{module} imports {self.root} (its __init__); import the module")
