<#
.SYNOPSIS
  Installs the bsodwatch analyzer worker as a Windows service.
.DESCRIPTION
  Checks for cdb.exe (Debugging Tools for Windows) and the symbol cache folder, then runs
  `bsodwatch analyze service install` with the given settings (they become the service's
  command line), and starts the service. Warnings and errors go to the Application Event Log
  under the service's name. Run from an elevated PowerShell.
.EXAMPLE
  .\install-analyzer.ps1 -Exe C:\bsodwatch\bsodwatch.exe -Nats nats://nats01:4222 `
      -Share \\fs01\dumps -Rules C:\bsodwatch\rules -Slots 2
#>
[CmdletBinding()]
param(
  [string]$Exe = (Join-Path $PSScriptRoot 'bsodwatch.exe'),
  [Parameter(Mandatory = $true)][string]$Nats,
  [Parameter(Mandatory = $true)][string]$Share,
  [string]$Rules = '',
  [string]$Cdb = '',
  [string]$SymbolCache = 'C:\symbols',
  [string[]]$ExtraSymbols = @(),
  [int]$Slots = 2,
  [string]$NatsCreds = '',
  [string]$Metrics = '',
  [string]$ServiceName = 'bsodwatch-analyzer',
  [switch]$NoStart
)
$ErrorActionPreference = 'Stop'

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
  throw 'Run this script from an elevated (Administrator) PowerShell.'
}
if (-not (Test-Path -LiteralPath $Exe -PathType Leaf)) { throw "bsodwatch.exe not found at $Exe (use -Exe)." }
$Exe = (Resolve-Path -LiteralPath $Exe).Path

# The debugger: the configured path, PATH, the Windows Kits, or a WinDbg install.
if ($Cdb -eq '') {
  $candidates = @(
    (Get-Command cdb.exe -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty Source),
    (Join-Path ${env:ProgramFiles(x86)} 'Windows Kits\10\Debuggers\x64\cdb.exe'),
    (Join-Path $env:ProgramFiles 'Windows Kits\10\Debuggers\x64\cdb.exe'),
    (Join-Path $env:ProgramFiles 'Debugging Tools for Windows (x64)\cdb.exe')
  ) + @(Get-ChildItem -Path (Join-Path $env:ProgramFiles 'WindowsApps\Microsoft.WinDbg_*\amd64\cdb.exe') -ErrorAction SilentlyContinue |
        Sort-Object FullName -Descending | ForEach-Object FullName)
  $Cdb = $candidates | Where-Object { $_ -and (Test-Path -LiteralPath $_ -PathType Leaf) } | Select-Object -First 1
}
if (-not $Cdb) {
  Write-Warning @'
cdb.exe was not found. The analyzer will fall back to its native engine (less detail).
To install the debugger: run the Windows SDK installer (https://learn.microsoft.com/windows-hardware/drivers/debugger/)
and select only "Debugging Tools for Windows", or `winget install Microsoft.WinDbg`, then run this script again
(or pass -Cdb C:\path\to\cdb.exe).
'@
  $Cdb = ''
} else {
  Write-Host "Debugger: $Cdb"
}

# The symbol cache must exist and be writable by the service account (LocalSystem by default).
if (-not (Test-Path -LiteralPath $SymbolCache)) {
  New-Item -ItemType Directory -Path $SymbolCache | Out-Null
  Write-Host "Created symbol cache $SymbolCache"
}
if (-not (Test-Path -LiteralPath $Share)) {
  Write-Warning "The dump share $Share is not reachable from this session; the service account needs read access to it."
}

$arguments = @('analyze', 'service', 'install', '--service.name', $ServiceName,
  '--nats', $Nats, '--share', $Share, '--slots', "$Slots",
  '--symbol-path', "srv*$SymbolCache*https://msdl.microsoft.com/download/symbols")
if ($Rules) { $arguments += @('--rules', $Rules) }
if ($Cdb) { $arguments += @('--cdb', $Cdb, '--engine', 'cdb') }
if ($ExtraSymbols.Count -gt 0) { $arguments += @('--extra-symbols', ($ExtraSymbols -join ';')) }
if ($NatsCreds) { $arguments += @('--nats.creds', $NatsCreds) }
if ($Metrics) { $arguments += @('--metrics', $Metrics) }

& $Exe @arguments
if ($LASTEXITCODE -ne 0) { throw "bsodwatch analyze service install failed (exit $LASTEXITCODE)." }

if (-not $NoStart) {
  & $Exe analyze service start '--service.name' $ServiceName
  if ($LASTEXITCODE -ne 0) { throw "Starting the service failed (exit $LASTEXITCODE); see the Application Event Log." }
}
Write-Host "Installed $ServiceName. Logs: Event Viewer > Windows Logs > Application, source $ServiceName."
