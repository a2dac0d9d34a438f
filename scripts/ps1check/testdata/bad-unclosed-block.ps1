# Broken on purpose: an unclosed script block and string. check-ps1.sh expects a failure.
function Get-Thing {
  Write-Host "open
