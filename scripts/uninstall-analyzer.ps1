<#
.SYNOPSIS
  Stops and removes the bsodwatch analyzer service (and its Event Log source).
.DESCRIPTION
  Stopping kills a running cdb and hands its job back to the queue, so no dump is lost. The
  symbol cache and the rules are left in place. Run from an elevated PowerShell.
#>
[CmdletBinding()]
param(
  [string]$Exe = (Join-Path $PSScriptRoot 'bsodwatch.exe'),
  [string]$ServiceName = 'bsodwatch-analyzer'
)
$ErrorActionPreference = 'Stop'
if (-not (Test-Path -LiteralPath $Exe -PathType Leaf)) { throw "bsodwatch.exe not found at $Exe (use -Exe)." }
if (-not (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue)) {
  Write-Host "Service $ServiceName is not installed."
  exit 0
}
& $Exe analyze service uninstall '--service.name' $ServiceName
if ($LASTEXITCODE -ne 0) { throw "bsodwatch analyze service uninstall failed (exit $LASTEXITCODE)." }
Write-Host "Removed $ServiceName."
