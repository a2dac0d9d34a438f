# Broken on purpose: an unclosed condition. check-ps1.sh expects the check to fail here.
param([string]$X)
if ($X -eq 1 {
  Write-Host "one"
}
